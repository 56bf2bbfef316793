#pragma once

namespace skiff::dashboard {

// The dashboard's one HTML page (src/dashboard/page.html, built in).
const char* dashboardPage();

}  // namespace skiff::dashboard
