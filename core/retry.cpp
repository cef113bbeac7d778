#include "core/retry.hpp"

#include <algorithm>

namespace troupe {

std::chrono::milliseconds backoff_delay(const backoff_policy& p, int attempt,
                                        double jitter01) {
  double d = static_cast<double>(p.base_ms);
  for (int i = 1; i < attempt && d < p.max_ms; ++i)
    d *= 2;
  d = std::min(d, static_cast<double>(p.max_ms));
  jitter01 = std::clamp(jitter01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(d * (0.5 + 0.5 * jitter01)));
}

} // namespace troupe
