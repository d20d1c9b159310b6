// Whole-file I/O with crash safety: writers go through a temp file in the target's directory and
// a rename, so a reader (or a resumed run) never sees a half-written checkpoint or dataset.
// read_file is the matching reader with a size cap and errors that name the path.
#pragma once

#include <cstdint>
#include <string>

namespace rflow::io {

// Writes bytes to path + ".tmp.<pid>.<counter>" next to the target, flushes it to the disk, then
// renames it over path. Creates the parent directory if missing. On failure (disk full, no
// permission) the temp file is removed and rflow::Error is thrown naming the cause; path itself is
// either the old contents or the new ones, never a mix. A target that exists but is not a regular
// file (a symlink, directory, fifo, device) is refused: renaming over it would replace it.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Flushes a file or a directory (its entries: a rename into it) to the disk; best effort, for
// files written by other libraries (torch::save) and directories renamed into place.
void sync_path(const std::string& path);

// Throws rflow::Error unless path names a regular file this process can open for reading; the
// message says which (missing: `missing_hint`; permission denied; a directory, fifo, ...).
void check_readable_file(const std::string& path, const std::string& missing_hint = "check the path");

// Reads the whole file. Throws rflow::Error if it is missing, not a regular file, unreadable, or
// larger than max_bytes (the cap keeps a wrong path to a huge file from exhausting memory).
std::string read_file(const std::string& path, std::uint64_t max_bytes = 1ull << 34);

}  // namespace rflow::io
