// One writer per run directory: an exclusive flock on <dir>/.lock held for an object's lifetime.
// The kernel drops the lock when its process dies (even by SIGKILL), so a stale lock is taken over
// without anyone deleting it; the file keeps the holder's pid and command for the error message.
#pragma once

#include <string>

namespace rflow::io {

class DirectoryLock {
 public:
  // Creates dir if needed and locks it; throws rflow::Error naming the holder (pid, what it runs)
  // if another process, or another DirectoryLock of this one, holds it.
  DirectoryLock(const std::string& dir, const std::string& holder);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  static constexpr const char* kFileName = ".lock";

 private:
  int fd_ = -1;
};

}  // namespace rflow::io
