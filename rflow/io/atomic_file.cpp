#include "rflow/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::io {

namespace {

// pid alone is not unique: several threads of one process may save to the same directory.
std::string temp_name_for(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  return path + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." +
         std::to_string(counter.fetch_add(1));
}

void remove_quietly(const std::string& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

std::string kind_of(const fs::file_status& st) {
  switch (st.type()) {
    case fs::file_type::symlink: return "a symbolic link";
    case fs::file_type::directory: return "a directory";
    case fs::file_type::fifo: return "a fifo";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

std::string errno_text(int err) { return std::system_category().message(err); }

// Writes all of bytes to fd and flushes them to the disk; returns 0 or the errno of the failure.
int write_all_and_sync(int fd, const std::string& bytes) {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return ::fsync(fd) == 0 ? 0 : errno;
}

// Refuses what renaming over would destroy (links, fifos, devices, directories) and creates the
// parent directory.
void check_output_target(const std::string& path) {
  RF_CHECK(!path.empty(), "empty output path", "write_file_atomic", "pass a file path");
  const fs::path target(path);
  {
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(target, ec);
    RF_CHECK(ec || !fs::exists(st) || fs::is_regular_file(st),
             "the output path is " + kind_of(st) + "; rflow replaces its outputs whole and will not replace it", path,
             "remove it or write to another path (to write where a link points, pass the link's target)");
  }
  const fs::path parent = target.parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    // create_directories reports no error when the directory already exists, but a regular file
    // in the way only shows up as "not a directory", so test the result explicitly.
    RF_CHECK(!ec && fs::is_directory(parent),
             "cannot create output directory " + parent.string() +
                 (ec ? ": " + ec.message() : std::string(": exists and is not a directory")),
             path, "check the output path and its permissions");
  }
}

// <name>.tmp.<pid>.<n> → pid (0: not a temporary of ours).
long long temp_writer(const std::string& filename) {
  const std::size_t at = filename.rfind(".tmp.");
  if (at == std::string::npos) return 0;
  const std::string rest = filename.substr(at + 5);
  const std::size_t dot = rest.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size()) return 0;
  for (std::size_t i = 0; i < rest.size(); ++i)
    if (i != dot && !std::isdigit(static_cast<unsigned char>(rest[i]))) return 0;
  return std::stoll(rest.substr(0, dot));
}

bool process_alive(long long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH); }

}  // namespace

void check_output_path(const std::string& path) { check_output_target(path); }

std::string begin_output(const std::string& path) {
  check_output_target(path);
  const fs::path parent = fs::path(path).parent_path();
  remove_stale_temporaries(parent.empty() ? "." : parent.string());
  return temp_name_for(path);
}

void finish_output(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  RF_CHECK(fs::is_regular_file(fs::symlink_status(tmp, ec)), "the writer left no file", tmp, "");
  if (const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    const int err = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    if (err != 0) {
      remove_quietly(tmp);
      throw Error("flushing it to the disk failed: " + errno_text(err), path,
                  err == ENOSPC ? "free disk space; the previous file is intact" : "check the disk; the previous file is intact");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    remove_quietly(tmp);
    throw Error("cannot move temporary file into place: " + ec.message(), path, "check that the path is writable");
  }
  const fs::path parent = fs::path(path).parent_path();
  sync_path(parent.empty() ? "." : parent.string());
}

int remove_stale_temporaries(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const long long pid = temp_writer(e.path().filename().string());
    if (pid == 0 || pid == ::getpid() || process_alive(pid)) continue;
    std::error_code rm;
    if (e.is_regular_file(rm) && fs::remove(e.path(), rm)) ++removed;
  }
  return removed;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  check_output_target(path);
  const fs::path target(path);
  const fs::path parent = target.parent_path();
  const std::string tmp = temp_name_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    throw Error("cannot create a temporary file next to it: " + errno_text(err), path,
                err == ENOSPC ? "free disk space" : "check that the directory is writable");
  }
  const int err = write_all_and_sync(fd, bytes);
  const int close_err = ::close(fd) == 0 ? 0 : errno;
  if (err != 0 || close_err != 0) {
    remove_quietly(tmp);
    const int e = err != 0 ? err : close_err;
    throw Error("writing " + std::to_string(bytes.size()) + " bytes failed: " + errno_text(e), path,
                e == ENOSPC || e == EDQUOT ? "free disk space (or raise the quota); the previous file is intact"
                                           : "check the disk and the directory's permissions; the previous file is intact");
  }

  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    remove_quietly(tmp);
    throw Error("cannot move temporary file into place: " + ec.message(), path,
                "check that the path is not a directory and is writable");
  }
  // The rename itself reaches the disk with the directory.
  sync_path(parent.empty() ? "." : parent.string());
}

void sync_path(const std::string& path) {
  if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void check_readable_file(const std::string& path, const std::string& missing_hint) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw Error("cannot look at the file: " + ec.message(), path,
                ec == std::errc::permission_denied ? "check the permissions of the file's directories" : "check the path");
  RF_CHECK(fs::exists(st), "file not found", path, missing_hint);
  RF_CHECK(fs::is_regular_file(st), "this is " + kind_of(st) + ", not a file", path, "pass the path of a file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error("cannot open the file: " + errno_text(err), path,
                err == EACCES ? "check the file's permissions (chmod u+r)" : "check the file");
  }
  ::close(fd);
}

std::string read_file(const std::string& path, std::uint64_t max_bytes) {
  check_readable_file(path);
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  RF_CHECK(!ec, "cannot get file size: " + ec.message(), path, "check file permissions");
  RF_CHECK(size <= max_bytes,
           "file is " + std::to_string(size) + " bytes, more than the limit of " +
               std::to_string(max_bytes),
           path, "check that this is the intended file");

  std::ifstream in(path, std::ios::binary);
  RF_CHECK(in.is_open(), "cannot open file for reading", path, "check file permissions");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  RF_CHECK(static_cast<std::uintmax_t>(in.gcount()) == size,
           "read " + std::to_string(in.gcount()) + " of " + std::to_string(size) + " bytes", path,
           "the file may be changing while being read; retry");
  return bytes;
}

}  // namespace rflow::io
