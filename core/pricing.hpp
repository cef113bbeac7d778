#pragma once

// What the API charges, per model: the gateway prices each response from
// the usage it reports, and holds a task to its budget with it. Prices are
// USD per million tokens, as Anthropic publishes them; the config's
// "prices" section overrides or adds (docs/CONFIG.md).

#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace troupe {

struct model_price {
  double input = 0, output = 0;
  /// Writing the 5-minute prompt cache, and reading it.
  double cache_write = 0, cache_read = 0;
};

/// Model-name fragments and their prices, most specific first: the first
/// fragment found in a model's name prices it.
using price_table = std::vector<std::pair<std::string, model_price>>;

/// A price whose cache rates are the API's usual multiples of its input
/// rate (writes 1.25x, reads 0.1x).
model_price price_from_input(double input, double output);

/// Anthropic's list prices, by family and generation.
const price_table& list_prices();

/// The price of `model`: the user's table first, then the list. A model
/// neither knows is priced as the dearest family, so a budget errs on the
/// side of stopping early.
model_price price_of(std::string_view model, const price_table& own = {});

/// What a response's usage costs.
double cost_of(const usage& u, const model_price& p);

} // namespace troupe
