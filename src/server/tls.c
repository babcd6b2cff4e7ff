/*
 * tls.c - startup check of the TLS certificate and key (see tls.h).
 */
#include "server/tls.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util/err.h"

/* The reason of OpenSSL's most recent error, or fallback. */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : fallback;
}

/* An encrypted key fails instead of prompting on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

int parley_tls_check(const char *cert, const char *key, char *why, size_t whylen)
{
	int rc = PARLEY_E_INVAL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(why, whylen, "OpenSSL cannot create a context");
		return PARLEY_E_NOMEM;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(why, whylen, "cannot load the certificate '%s' (%s); it must be a PEM "
				      "certificate chain",
			 cert, ssl_reason("unreadable"));
		goto out;
	}
	ERR_clear_error();
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) { /* OpenSSL 3 checks here */
			snprintf(why, whylen,
				 "the private key '%s' does not belong to the certificate '%s'", key,
				 cert);
			goto out;
		}
		snprintf(why, whylen, "cannot load the private key '%s' (%s); it must be an "
				      "unencrypted PEM key",
			 key, ssl_reason("unreadable"));
		goto out;
	}
	ERR_clear_error();
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(why, whylen, "the private key '%s' does not belong to the certificate '%s'",
			 key, cert);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return rc;
}
