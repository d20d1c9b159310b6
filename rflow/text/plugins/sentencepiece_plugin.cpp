// librflow_sentencepiece.so: SentencePiece behind a C interface (sentencepiece_plugin.h), loaded by
// rflow with dlopen so that SentencePiece's bundled protobuf never meets LibTorch's.
#include "rflow/text/plugins/sentencepiece_plugin.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

char* copy_out(const std::string& s, size_t* len = nullptr) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  if (len) *len = s.size();
  return p;
}

char* error(const sentencepiece::util::Status& st) { return st.ok() ? nullptr : copy_out(st.ToString()); }

class Sentences : public sentencepiece::SentenceIterator {
 public:
  Sentences(const char* const* t, size_t n) {
    for (size_t i = 0; i < n; ++i)
      if (std::string s(t[i]); s.find_first_not_of(" \t\r\n") != std::string::npos) v_.push_back(std::move(s));
  }
  bool done() const override { return i_ >= v_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return v_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> v_;
  size_t i_ = 0;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) char* rflow_spm_train(const char* const* texts, size_t n_texts,
                                                             const char* const* args, size_t n_args, char** proto,
                                                             size_t* proto_len) {
  try {
    std::unordered_map<std::string, std::string> kw;
    for (size_t i = 0; i + 1 < n_args; i += 2) kw[args[i]] = args[i + 1];
    Sentences it(texts, n_texts);
    std::string out;
    if (char* e = error(sentencepiece::SentencePieceTrainer::Train(kw, &it, &out))) return e;
    *proto = copy_out(out, proto_len);
    return nullptr;
  } catch (const std::exception& e) {
    return copy_out(e.what());
  }
}

__attribute__((visibility("default"))) char* rflow_spm_load(const char* proto, size_t len, void** handle) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  if (char* e = error(sp->LoadFromSerializedProto(std::string(proto, len)))) {
    delete sp;
    return e;
  }
  *handle = sp;
  return nullptr;
}

__attribute__((visibility("default"))) char* rflow_spm_encode(void* h, const char* text, size_t len, int** ids,
                                                              size_t* n_ids) {
  std::vector<int> v;
  if (char* e = error(static_cast<sentencepiece::SentencePieceProcessor*>(h)->Encode(std::string(text, len), &v)))
    return e;
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (v.size() + 1)));
  if (!v.empty()) std::memcpy(*ids, v.data(), sizeof(int) * v.size());
  *n_ids = v.size();
  return nullptr;
}

__attribute__((visibility("default"))) char* rflow_spm_decode(void* h, const int* ids, size_t n_ids, char** text,
                                                              size_t* len) {
  std::string out;
  if (char* e = error(static_cast<sentencepiece::SentencePieceProcessor*>(h)->Decode(std::vector<int>(ids, ids + n_ids), &out)))
    return e;
  *text = copy_out(out, len);
  return nullptr;
}

__attribute__((visibility("default"))) void rflow_spm_info(void* h, int* vocab_size, int specials[4]) {
  const auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  *vocab_size = sp->GetPieceSize();
  specials[0] = sp->pad_id(), specials[1] = sp->unk_id(), specials[2] = sp->bos_id(), specials[3] = sp->eos_id();
}

__attribute__((visibility("default"))) void rflow_spm_free(void* h) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(h);
}

__attribute__((visibility("default"))) void rflow_spm_release(void* p) { std::free(p); }
}
