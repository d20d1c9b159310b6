// Resident memory of this process: now, and the peak since start or since the last reset, so each
// pipeline stage and each bench can report the memory it needed (Linux /proc; 0 elsewhere).
#pragma once

#include <cstdint>

namespace rflow {

int64_t current_rss_bytes();
int64_t peak_rss_bytes();
// Starts a new peak measurement (writes 5 to /proc/self/clear_refs); false where the kernel refuses,
// and the peak then stays the whole process's.
bool reset_peak_rss();

}  // namespace rflow
