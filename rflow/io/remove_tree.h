// Removes a file or a directory tree: std::filesystem::remove_all's job without calling it. Some
// prebuilt LibTorch libraries (the pip wheels of PyTorch 2) export their own copy of remove_all,
// which the dynamic linker binds ahead of libstdc++'s and which jumps to a null pointer; every
// removal of a tree in rflow (old checkpoints, temp folders) goes through here instead.
#pragma once

#include <cstdint>
#include <filesystem>
#include <system_error>

namespace rflow::io {

// Like std::filesystem::remove_all: symbolic links are removed, never followed; a missing path
// removes nothing and is not an error. Returns the number of entries removed (static_cast<uintmax_t>(-1)
// with ec set on failure); the throwing form throws std::filesystem::filesystem_error.
std::uintmax_t remove_tree(const std::filesystem::path& p, std::error_code& ec) noexcept;
std::uintmax_t remove_tree(const std::filesystem::path& p);

}  // namespace rflow::io
