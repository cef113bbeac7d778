#pragma once

// The dashboard (bridge/web/dashboard.html), built in.

namespace troupe {

const char* dashboard_page();

} // namespace troupe
