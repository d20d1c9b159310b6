// How many intra-op threads rflow uses when the config says `threads = 0`: the machine's cores
// less the tasks other processes keep running, re-checked as a run goes. Two threads on two cores
// spin at every parallel region; when another process takes a core, each region then waits a
// scheduler quantum for the descheduled thread (the demo's training: 2.4 s alone, 7.3 s beside one
// busy process at two threads, 2.5 s at one). A count the user set (threads > 0, OMP_NUM_THREADS)
// is left alone.
#pragma once

#include <cstdint>
#include <string>

namespace rflow {

// The default for `threads = 0`: every core the other runnable tasks leave, at least one.
int threads_for(int cores, int64_t others_running);

// Runnable tasks (threads) of other processes on the machine right now: /proc/stat's
// procs_running less this process's own running threads; 0 where /proc is missing. The first
// guess at start; adapt_threads corrects it from measured CPU time.
int64_t other_running_tasks();

// Applies a run's `threads`: > 0 as given; 0 = automatic (threads_for, re-checked by
// adapt_threads), unless OMP_NUM_THREADS is set, which then decides.
void apply_thread_setting(int64_t threads);

// In automatic mode, measures how many cores other processes kept busy since the last check (CPU
// time over at least half a second: the machine's less this process's) and changes the thread
// count if it should differ; returns a sentence saying so ("" when nothing changed, too little
// time passed, or the mode is not automatic). Callers call it between parallel work (a trainer at
// each log line, pair generation at each shard).
std::string adapt_threads();

// "automatic: 2 of 2 cores (0 other running tasks)", "fixed: 4 (threads = 4)", or
// "fixed: 1 (OMP_NUM_THREADS = 1)": the policy in force, for `rflow info --system` and logs.
std::string thread_policy_text();

}  // namespace rflow
