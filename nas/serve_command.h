#ifndef NAS_NAS_SERVE_COMMAND_H_
#define NAS_NAS_SERVE_COMMAND_H_

#include "nas/cli.h"

namespace nas::service {

// Declares `nas serve`: runs the server until SIGINT/SIGTERM, then shuts it down
// gracefully (running jobs checkpoint and resume on the next start).
void AddServeCommand(Commands& commands);

}  // namespace nas::service

#endif  // NAS_NAS_SERVE_COMMAND_H_
