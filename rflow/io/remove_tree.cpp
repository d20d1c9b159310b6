#include "rflow/io/remove_tree.h"

#include <cerrno>

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rflow::io {

namespace {

// nftw's callback takes no state: the walk of one thread counts here.
thread_local std::uintmax_t g_removed = 0;
thread_local int g_error = 0;

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  // A directory nftw could not read is still tried (it may be empty); if it is not, the reason
  // worth reporting is the permission, not ENOTEMPTY.
  const bool dir = type == FTW_DP || type == FTW_DNR;
  if ((dir ? ::rmdir(path) : ::unlink(path)) != 0) {
    if (errno == ENOENT) return 0;  // removed meanwhile: the goal holds
    g_error = type == FTW_DNR ? EACCES : errno;
    return 1;
  }
  ++g_removed;
  return 0;
}

}  // namespace

std::uintmax_t remove_tree(const std::filesystem::path& p, std::error_code& ec) noexcept {
  ec.clear();
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    ec.assign(errno, std::generic_category());
    return static_cast<std::uintmax_t>(-1);
  }
  g_removed = 0;
  g_error = 0;
  // Children before their directory (FTW_DEPTH), links as links (FTW_PHYS), one file descriptor
  // per level at most 64 deep before nftw recycles them.
  const int rc = ::nftw(p.c_str(), remove_entry, 64, FTW_DEPTH | FTW_PHYS);
  if (rc != 0) {
    if (g_error == 0 && errno == ENOENT) return g_removed;  // the tree vanished during the walk
    ec.assign(g_error != 0 ? g_error : errno, std::generic_category());
    return static_cast<std::uintmax_t>(-1);
  }
  return g_removed;
}

std::uintmax_t remove_tree(const std::filesystem::path& p) {
  std::error_code ec;
  const std::uintmax_t n = remove_tree(p, ec);
  if (ec) throw std::filesystem::filesystem_error("cannot remove", p, ec);
  return n;
}

}  // namespace rflow::io
