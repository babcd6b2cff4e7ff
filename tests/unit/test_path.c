/* Unit tests: request path -> file under the web root (src/server/path.c)
 * and MIME types (src/server/mime.c), against a real temporary tree. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/mime.h"
#include "server/path.h"
#include "util/err.h"

static char base[PATH_MAX], root[PATH_MAX + 8];

static void touch(const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof p, "%s/%s", base, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/parley-path-XXXXXX";
	char *d = mkdtemp(tmpl);
	if (!d)
		return -1;
	char *real = realpath(d, NULL);
	snprintf(base, sizeof base, "%s", real);
	free(real);
	snprintf(root, sizeof root, "%s/root", base);
	char p[PATH_MAX * 2];
	mkdir(root, 0755);
	snprintf(p, sizeof p, "%s/static", root);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/sub", root);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/empty", root);
	mkdir(p, 0755);
	touch("root/index.html");
	touch("root/static/app.js");
	touch("root/sub/index.html");
	touch("secret.txt");
	snprintf(p, sizeof p, "%s/escape", root);
	char target[PATH_MAX * 2];
	snprintf(target, sizeof target, "%s/secret.txt", base);
	if (symlink(target, p) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static void expect(const char *uri, int rc, const char *rel)
{
	char out[PATH_MAX];
	int got = parley_path_resolve(root, uri, out, sizeof out);
	if (got != rc)
		fail_msg("%s: expected %d, got %d", uri, rc, got);
	if (rel) {
		char want[PATH_MAX * 2];
		snprintf(want, sizeof want, "%s/%s", root, rel);
		assert_string_equal(out, want);
	}
}

static void serves_files_and_directories(void **state)
{
	expect("/", 0, "index.html");
	expect("/index.html", 0, "index.html");
	expect("/static/app.js", 0, "static/app.js");
	expect("//static//app.js", 0, "static/app.js");
	expect("/sub", 0, "sub/index.html");
	expect("/sub/", 0, "sub/index.html");
	expect("/static/%61pp.js", 0, "static/app.js");
	expect("/missing.js", PARLEY_E_NOTFOUND, NULL);
	expect("/empty/", PARLEY_E_NOTFOUND, NULL);
	expect("/static/app.js/x", PARLEY_E_NOTFOUND, NULL);
}

static void refuses_traversal(void **state)
{
	expect("/../secret.txt", PARLEY_E_INVAL, NULL);
	expect("/static/../../secret.txt", PARLEY_E_INVAL, NULL);
	expect("/static/../index.html", PARLEY_E_INVAL, NULL); /* '..' is refused outright */
	expect("/%2e%2e/secret.txt", PARLEY_E_INVAL, NULL);
	expect("/%2E%2E/secret.txt", PARLEY_E_INVAL, NULL);
	expect("/..%2fsecret.txt", PARLEY_E_INVAL, NULL);
	expect("/%2e%2e%2fsecret.txt", PARLEY_E_INVAL, NULL);
	expect("/..%5csecret.txt", PARLEY_E_INVAL, NULL);
	expect("/..\\secret.txt", PARLEY_E_INVAL, NULL);
	expect("/%252e%252e/secret.txt", PARLEY_E_INVAL, NULL); /* double-encoded */
	expect("/%00/index.html", PARLEY_E_INVAL, NULL);
	expect("/%zz", PARLEY_E_INVAL, NULL);
	expect("/%2", PARLEY_E_INVAL, NULL);
	expect("relative", PARLEY_E_INVAL, NULL);
	expect("/escape", PARLEY_E_INVAL, NULL); /* symlink out of the root */
}

static void expect_web(const char *uri, int rc, const char *rel)
{
	char out[PATH_MAX];
	int got = parley_path_resolve_web(root, uri, out, sizeof out);
	if (got != rc)
		fail_msg("%s: expected %d, got %d", uri, rc, got);
	if (rel) {
		char want[PATH_MAX * 2];
		snprintf(want, sizeof want, "%s/%s", root, rel);
		assert_string_equal(out, want);
	}
}

/* /static/NAME falls back to NAME at the root, with the same checks. */
static void static_fallback(void **state)
{
	expect_web("/static/app.js", 0, "static/app.js"); /* the real one first */
	expect_web("/static/index.html", 0, "index.html");
	expect_web("/static/sub/", 0, "sub/index.html");
	expect_web("/static/", 0, "index.html"); /* static/ has no index.html: / */
	expect_web("/static/missing.js", PARLEY_E_NOTFOUND, NULL);
	expect_web("/static/../secret.txt", PARLEY_E_INVAL, NULL);
	expect_web("/static/..%2fsecret.txt", PARLEY_E_INVAL, NULL);
	expect_web("/static/%2e%2e/secret.txt", PARLEY_E_INVAL, NULL);
	expect_web("/static/escape", PARLEY_E_INVAL, NULL); /* symlink out, via the fallback */
	expect_web("/static//etc/passwd", PARLEY_E_NOTFOUND, NULL); /* stays below the root */
	expect_web("/staticx/index.html", PARLEY_E_NOTFOUND, NULL);
	expect("/static/index.html", PARLEY_E_NOTFOUND, NULL); /* plain resolve: no fallback */
}

static void mime_types(void **state)
{
	assert_string_equal(parley_mime_type("/a/index.html"), "text/html; charset=utf-8");
	assert_string_equal(parley_mime_type("x.JS"), "text/javascript; charset=utf-8");
	assert_string_equal(parley_mime_type("x.mjs"), "text/javascript; charset=utf-8");
	assert_string_equal(parley_mime_type("x.css"), "text/css; charset=utf-8");
	assert_string_equal(parley_mime_type("x.wav"), "audio/wav");
	assert_string_equal(parley_mime_type("x.svg"), "image/svg+xml");
	assert_string_equal(parley_mime_type("x.png"), "image/png");
	assert_string_equal(parley_mime_type("x.ico"), "image/x-icon");
	assert_string_equal(parley_mime_type("x.json"), "application/json");
	assert_string_equal(parley_mime_type("x.bin"), "application/octet-stream");
	assert_string_equal(parley_mime_type("dir.d/file"), "application/octet-stream");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(serves_files_and_directories),
		cmocka_unit_test(refuses_traversal),
		cmocka_unit_test(static_fallback),
		cmocka_unit_test(mime_types),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
