// Type-erased, value-semantic options of one component (a backbone, a method, a data set): any
// struct with `visit(V&)` and `validate(where)`. Registries hold a factory of default options per
// entry, so a config section such as model.unet.* exists exactly when the unet backbone is
// registered, and a new component brings its own keys without touching any shared struct.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <typeinfo>

#include "rflow/core/config.h"
#include "rflow/core/error.h"

namespace rflow {

class AnyOptions {
 public:
  AnyOptions() = default;
  template <class T>
  static AnyOptions of(T value = T{}) {
    AnyOptions o;
    o.holder_ = std::make_unique<Holder<T>>(std::move(value));
    return o;
  }
  AnyOptions(const AnyOptions& other) : holder_(other.holder_ ? other.holder_->clone() : nullptr) {}
  AnyOptions& operator=(const AnyOptions& other) {
    holder_ = other.holder_ ? other.holder_->clone() : nullptr;
    return *this;
  }
  AnyOptions(AnyOptions&&) noexcept = default;
  AnyOptions& operator=(AnyOptions&&) noexcept = default;

  bool empty() const { return !holder_; }
  // The options as their own type; a mismatch is a programming error in the component's factory.
  template <class T>
  const T& as() const {
    auto* h = holder_ ? dynamic_cast<Holder<T>*>(holder_.get()) : nullptr;
    RF_CHECK(h, std::string("options are not of type ") + typeid(T).name(), "AnyOptions::as",
             "a component must read the options type its registry entry declared");
    return h->value;
  }
  template <class T>
  T& as() {
    return const_cast<T&>(static_cast<const AnyOptions*>(this)->as<T>());
  }
  // What config::FieldCollector calls for v.section(name, options).
  void visit(config::FieldCollector& v) {
    if (holder_) holder_->visit(v);
  }
  void validate(const std::string& where) const {
    if (holder_) holder_->validate(where);
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual std::unique_ptr<Base> clone() const = 0;
    virtual void visit(config::FieldCollector& v) = 0;
    virtual void validate(const std::string& where) const = 0;
  };
  template <class T>
  struct Holder : Base {
    explicit Holder(T v) : value(std::move(v)) {}
    std::unique_ptr<Base> clone() const override { return std::make_unique<Holder>(value); }
    void visit(config::FieldCollector& v) override { value.visit(v); }
    void validate(const std::string& where) const override { value.validate(where); }
    T value;
  };
  std::unique_ptr<Base> holder_;
};

// Options with no keys, for components that need none.
struct NoOptions {
  template <class V>
  void visit(V&) {}
  void validate(const std::string&) const {}
};

// One options section per registered component name, filled from a registry's entries.
using OptionsMap = std::map<std::string, AnyOptions>;

template <class Reg>
OptionsMap default_options(const Reg& registry) {
  OptionsMap out;
  for (const auto& name : registry.names()) out.emplace(name, registry.get(name).options());
  return out;
}

}  // namespace rflow
