#include "rflow/core/malloc_tuning.h"

#include <malloc.h>

namespace rflow {

void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace rflow
