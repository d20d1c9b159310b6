#include "rflow/io/directory_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::io {

DirectoryLock::DirectoryLock(const std::string& dir, const std::string& holder) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  RF_CHECK(!ec, "cannot create the directory: " + ec.message(), dir, "check the path and its permissions");
  const std::string path = (fs::path(dir) / kFileName).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    throw Error(std::string("cannot open the lock file: ") + std::strerror(err), path, "check the directory's permissions");
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[512] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK)
      throw Error(std::string("cannot lock: ") + std::strerror(err), path, "check the file system supports flock");
    std::string who = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "another process";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    for (auto& c : who)
      if (c == '\n') c = ' ';
    throw Error("in use by " + who, dir,
                "wait for it to finish or stop it (one process writes a run directory at a time)");
  }
  const std::string me = "process " + std::to_string(static_cast<long long>(::getpid())) + " (" + holder + ")\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t w = ::pwrite(fd_, me.data(), me.size(), 0);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock; the file stays for the next holder
}

}  // namespace rflow::io
