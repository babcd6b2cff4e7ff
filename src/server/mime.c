#include "server/mime.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".htm", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".map", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".wav", "audio/wav" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".jpg", "image/jpeg" },
	{ ".ico", "image/x-icon" },
	{ ".webmanifest", "application/manifest+json" },
	{ ".woff2", "font/woff2" },
};

const char *parley_mime_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash)) {
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
		}
	}
	return "application/octet-stream";
}
