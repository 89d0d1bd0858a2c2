// POST /v1/embeddings.
#include <nlohmann/json.hpp>

#include "server/api.h"
#include "server/async_util.h"
#include "server/error_mapping.h"

namespace hearth {
using json = nlohmann::json;

namespace {

std::string base64_floats(const std::vector<float>& v) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());  // little-endian float32, as OpenAI sends
  const size_t n = v.size() * sizeof(float);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const unsigned b0 = p[i], b1 = i + 1 < n ? p[i + 1] : 0, b2 = i + 2 < n ? p[i + 2] : 0;
    out += tbl[b0 >> 2];
    out += tbl[((b0 & 3) << 4) | (b1 >> 4)];
    out += i + 1 < n ? tbl[((b1 & 15) << 2) | (b2 >> 6)] : '=';
    out += i + 2 < n ? tbl[b2 & 63] : '=';
  }
  return out;
}

}  // namespace

Task<> handle_embeddings(ApiContext& api, Exchange& ex) {
  auto body = parse_json_body(ex.request().body);
  if (!body) co_return co_await ex.respond(error_response(body.error()));
  auto req = parse_embedding_request(*body);
  if (!req) co_return co_await ex.respond(error_response(req.error()));
  InputTexts texts{{}, "input"};
  for (auto& t : req->texts) texts.texts.push_back(&t);
  if (auto in = admit_input(api, ex.context(), req->model, std::move(texts)); !in) {
    co_return co_await ex.respond(error_response(in.error()));
  }
  auto prepared = co_await prepare_request(api.blocking, ex.request().body.size(),
                                           [&api, &r = *req](Acquire m) { return api.generation.prepare_embedding(r, m); });
  if (!prepared) co_return co_await ex.respond(error_response(prepared.error()));
  ex.context().model = prepared->model_id;
  auto admitted = co_await admit_embedding_tokens(api, ex.context(), static_cast<std::uint64_t>(prepared->prompt_tokens));
  if (!admitted) co_return co_await ex.respond(error_response(admitted.error()));

  using Vectors = Result<std::vector<std::vector<float>>>;
  auto channel = std::make_shared<AsyncQueue<Vectors>>(ex.executor());
  Status st = prepared->engine->embed(std::move(prepared->inputs), [channel](Vectors v) { channel->push(std::move(v)); });
  if (!st) co_return co_await ex.respond(error_response(st.error()));
  std::optional<Vectors> result;
  while (!result) result = co_await channel->next(std::chrono::milliseconds(1000));
  prepared->engine.reset();
  if (!*result) co_return co_await ex.respond(error_response(result->error()));

  json data = json::array();
  const auto& vectors = **result;
  for (size_t i = 0; i < vectors.size(); ++i) {
    json item = {{"object", "embedding"}, {"index", i}};
    if (req->base64) item["embedding"] = base64_floats(vectors[i]);
    else item["embedding"] = vectors[i];
    data.push_back(std::move(item));
  }
  json out = {{"object", "list"},
              {"data", std::move(data)},
              {"model", prepared->model_id},
              {"usage", {{"prompt_tokens", prepared->prompt_tokens}, {"total_tokens", prepared->prompt_tokens}}}};
  co_return co_await ex.respond(json_response(200, out.dump()));
}

}  // namespace hearth
