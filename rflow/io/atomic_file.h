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

// Throws rflow::Error unless `path` can be replaced whole: not a link, fifo, device or directory,
// its directory created. Commands call it on their outputs before long work, not after.
void check_output_path(const std::string& path);

// For a file another program writes (rflow export's Python child): refuses `path` as
// write_file_atomic does, creates its directory, removes temporaries of dead writers next to it and
// returns a fresh temporary name there. The caller has the file written to that name, then calls
// finish_output (or removes it on failure): `path` is never half-written.
std::string begin_output(const std::string& path);
// Flushes `tmp` to the disk and renames it over `path`, then flushes the directory.
void finish_output(const std::string& tmp, const std::string& path);

// Removes the files in `dir` named <name>.tmp.<pid>.<n> (write_file_atomic's temporaries) whose
// writer is no longer running: what a kill -9 mid-write leaves. Returns how many it removed.
int remove_stale_temporaries(const std::string& dir);

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
