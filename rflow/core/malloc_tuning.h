// glibc returns every freed buffer above the mmap threshold to the OS, so loops that free and
// reallocate multi-MB tensors each step pay page faults every time (1.2–1.9× slower here).
// Front ends (CLI, benches) call this once at start to keep such buffers in the heap.
#pragma once

namespace rflow {

void keep_freed_memory();

}  // namespace rflow
