// `ciap test -c ciap.yaml cases.yaml [--offline] [--json]`: runs the proxy's own decision code
// (policy_runner.h) on a table of cases and says which do not hold. For config repositories'
// CI: every allowed job and every look-alike a rule must stop, checked before the config ships.
//
//   cases:
//     - name: the release pipeline may upload        # optional; else the request names it
//       request: "PUT https://ci-proxy.acme.internal/releases/app.tgz"
//       claims: { iss: "https://agent.buildkite.com", organization_slug: acme }
//       # or token_file: job.jwt (relative to the cases file), or neither: no token
//       provider: buildkite                          # optional when iss decides
//       listener: agents                             # optional: the first listener
//       expect: { decision: allow, status: 200, reason: allowed_group }   # any of the three
#pragma once

#include <string>

namespace ciap {

struct CaseTableOptions {
  std::string config_path;
  std::string cases_path;
  bool offline = false;  // read no file the config names
  bool json = false;
};

// 0 when every case holds, 1 naming each one that does not, 2 when the files are unusable.
int RunCaseTable(const CaseTableOptions& options);

}  // namespace ciap
