#include "conversations/personal_data.h"

#include <nlohmann/json.hpp>

namespace hearth::conversations {
namespace {
using json = nlohmann::json;

class Conversations final : public privacy::PersonalDataStore {
 public:
  explicit Conversations(Store& store) : store_(store) {}
  std::string name() const override { return "conversations"; }

  Result<json> export_subject(const privacy::Subject& subject) override {
    auto all = store_.export_owners(subject.principals);
    if (!all) return all.take_error();
    if (all->empty()) return json(nullptr);
    json out = json::array();
    for (const auto& [c, items] : *all) {
      json its = json::array();
      for (const Item& i : items) {
        json j = json::parse(i.body_json, nullptr, false);
        if (!j.is_object()) j = json::object();
        j["id"] = i.id;
        j["created_at"] = i.created_at;
        its.push_back(std::move(j));
      }
      out.push_back({{"id", c.id},
                     {"owner", c.owner},
                     {"created_at", c.created_at},
                     {"updated_at", c.updated_at},
                     {"metadata", json::parse(c.metadata_json, nullptr, false)},
                     {"items", std::move(its)}});
    }
    return out;
  }

  Result<json> erase_subject(const privacy::Subject& subject) override {
    auto n = store_.erase_owners(subject.principals);
    if (!n) return n.take_error();
    return json{{"removed", *n}};
  }

 private:
  Store& store_;
};

}  // namespace

std::shared_ptr<privacy::PersonalDataStore> personal_data_store(Store& store) {
  return std::make_shared<Conversations>(store);
}

}  // namespace hearth::conversations
