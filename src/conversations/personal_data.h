// The conversations as a store of personal data (privacy/registry.h): a subject's export holds
// every conversation they own with all its messages; erasure deletes them.
#pragma once

#include <memory>

#include "conversations/store.h"
#include "privacy/registry.h"

namespace hearth::conversations {

std::shared_ptr<privacy::PersonalDataStore> personal_data_store(Store& store);

}  // namespace hearth::conversations
