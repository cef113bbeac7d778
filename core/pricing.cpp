#include "core/pricing.hpp"

namespace troupe {

model_price price_from_input(double input, double output) {
  return {input, output, input * 1.25, input * 0.1};
}

const price_table& list_prices() {
  // Newer generations first where a family's price changed: "opus-4-5"
  // must match before "opus".
  static const price_table table{
    {"opus-4-5", price_from_input(5, 25)},
    {"opus", price_from_input(15, 75)},
    {"sonnet", price_from_input(3, 15)},
    {"haiku-4-5", price_from_input(1, 5)},
    {"3-5-haiku", price_from_input(0.8, 4)},
    {"3-haiku", price_from_input(0.25, 1.25)},
    {"haiku", price_from_input(1, 5)},
  };
  return table;
}

model_price price_of(std::string_view model, const price_table& own) {
  for (auto* t : {&own, &list_prices()})
    for (auto& [fragment, p] : *t)
      if (model.find(fragment) != std::string_view::npos)
        return p;
  return price_from_input(15, 75);
}

double cost_of(const usage& u, const model_price& p) {
  return (static_cast<double>(u.input_tokens) * p.input
          + static_cast<double>(u.output_tokens) * p.output
          + static_cast<double>(u.cache_creation_input_tokens) * p.cache_write
          + static_cast<double>(u.cache_read_input_tokens) * p.cache_read)
         / 1e6;
}

} // namespace troupe
