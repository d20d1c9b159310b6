// The C interface of librflow_sentencepiece.so, the one place that links Debian's SentencePiece.
// That library carries its own copy of protobuf-lite with exported symbols, which collide with the
// protobuf LibTorch loads (a crash before main); so rflow never links it, but dlopens this plugin
// with its own symbol scope (RTLD_LOCAL | RTLD_DEEPBIND). Buffers it returns are malloc'ed; the
// caller frees them with rflow_spm_release. Every call returns 0 on success, else an error text.
#pragma once

#include <stddef.h>

extern "C" {
typedef char* (*rflow_spm_train_fn)(const char* const* texts, size_t n_texts, const char* const* args, size_t n_args,
                                    char** proto, size_t* proto_len);
typedef char* (*rflow_spm_load_fn)(const char* proto, size_t proto_len, void** handle);
typedef char* (*rflow_spm_encode_fn)(void* handle, const char* text, size_t len, int** ids, size_t* n_ids);
typedef char* (*rflow_spm_decode_fn)(void* handle, const int* ids, size_t n_ids, char** text, size_t* len);
// size and the four special ids (pad, unk, bos, eos).
typedef void (*rflow_spm_info_fn)(void* handle, int* vocab_size, int specials[4]);
typedef void (*rflow_spm_free_fn)(void* handle);
typedef void (*rflow_spm_release_fn)(void* buffer);
}
