#include "server/sse.h"

namespace hearth {

std::string sse_data(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  out += "data: ";
  for (char c : payload) {
    if (c == '\n') out += "\ndata: ";
    else if (c != '\r') out += c;
  }
  out += "\n\n";
  return out;
}

}  // namespace hearth
