#pragma once

// Files skiff reads from users and writes for them, with the two guarantees
// every caller needs: input is bounded (a path may name a device, a FIFO or
// gigabytes), and what holds a project's state stays its owner's alone.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace skiff {

// Reads a regular file (symlinks followed) of at most `maxBytes`. Throws
// skiff::Error when it cannot be opened, is not a regular file, or is larger;
// the message names the limit, and `raiseHint` says how to raise it.
std::string readBoundedFile(const std::filesystem::path& file, uint64_t maxBytes,
                            const std::string& raiseHint);

// The whole of a small file skiff itself keeps or the kernel writes (state,
// /proc, cgroup files, a child's output): "" when it cannot be read.
std::string readSmallFile(const std::filesystem::path& file);
// As readSmallFile, without trailing whitespace (a line's newline).
std::string readTrimmedFile(const std::filesystem::path& file);

// Writes `content` to FILE.tmp, then renames it over `file`, so that a reader
// (or a process killed meanwhile) sees the old content or the new, never
// half. Throws skiff::Error naming the file when it cannot.
void writeFileAtomically(const std::filesystem::path& file, const std::string& content);

// Creates `dir` (and its parents) when missing and makes `dir` itself 0700,
// whatever the umask and whatever an earlier version left.
void makePrivateDirectory(const std::filesystem::path& dir);

// Opens (creating) `file` with `flags` (O_WRONLY | O_APPEND, ...) and makes it
// 0600, also when it existed with wider permissions. Returns the descriptor;
// throws skiff::Error when it cannot.
int openPrivateFile(const std::filesystem::path& file, int flags);

// chmod 0600 when the file exists; nothing when it does not.
void makePrivateFile(const std::filesystem::path& file);

}  // namespace skiff
