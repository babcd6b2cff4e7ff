/* mime.h - Content-Type by file extension. Pure, any thread. */
#ifndef PARLEY_SERVER_MIME_H
#define PARLEY_SERVER_MIME_H

/* Returns a static string; application/octet-stream when unknown. */
const char *parley_mime_type(const char *path);

#endif
