'use strict';
// Preloaded (-r) into the service only for `npm run bench -- --cpu-prof`.
// Nest's shutdown hook ends the process by re-raising SIGTERM, and a process
// killed by a signal never writes its --cpu-prof file. This listener turns
// that second SIGTERM (or a shutdown that hangs) into a normal exit, so it does.
let seen = 0;
process.on('SIGTERM', () => {
  seen += 1;
  if (seen > 1) process.exit(0);
  setTimeout(() => process.exit(0), 5000);
});
