/*
 * path.h - map a request path to a file below the web root, safely.
 *
 * The path is percent-decoded once more (libwebsockets has usually decoded
 * it already, so anything still encoded is a double-encoding attempt).
 * Rejected as forbidden: a path not starting with '/', a '..' segment, a
 * backslash, a NUL, a '%' surviving decoding. The result is then resolved
 * with realpath() and must lie below the (already resolved) root, so a
 * symlink cannot lead outside either. A directory serves its index.html.
 *
 * Pure apart from reading the filesystem; any thread.
 */
#ifndef PARLEY_SERVER_PATH_H
#define PARLEY_SERVER_PATH_H

#include <stddef.h>

/*
 * root: absolute, resolved directory (borrowed). Writes the resolved file
 * path into out. Returns 0, PARLEY_E_INVAL (forbidden: answer 403) or
 * PARLEY_E_NOTFOUND (answer 404).
 */
int parley_path_resolve(const char *root, const char *uri, char *out, size_t outlen);

/*
 * What the web server serves for uri: parley_path_resolve(), and when that
 * finds nothing for "/static/NAME", "/NAME" resolved the same way (every
 * check again), so a client laid out like RealtimeVoiceChat's code/static
 * (index.html beside app.js, the page asking for /static/app.js) is served
 * unchanged. A forbidden uri is never retried. Returns as above.
 */
int parley_path_resolve_web(const char *root, const char *uri, char *out, size_t outlen);

#endif
