/*
 * err.h - parley's one error enum.
 *
 * Every fallible function returns 0 on success or a negative PARLEY_E_*
 * code; parley_strerror() turns a code into a short English phrase. A function
 * that takes a callback and fails never calls that callback.
 */
#ifndef PARLEY_UTIL_ERR_H
#define PARLEY_UTIL_ERR_H

enum parley_err {
	PARLEY_OK = 0,
	PARLEY_E_NOMEM = -1,    /* allocation failed */
	PARLEY_E_INVAL = -2,    /* invalid argument or input */
	PARLEY_E_FULL = -3,     /* a bounded queue or buffer is full */
	PARLEY_E_CLOSED = -4,   /* the object is closing or closed */
	PARLEY_E_RANGE = -5,    /* a value is outside its allowed range */
	PARLEY_E_IO = -6,       /* an operating-system call failed */
	PARLEY_E_NOTFOUND = -7, /* no such item */
	PARLEY_E_BUSY = -8,     /* one is already in progress */
};

/* Thread-safe; returns a static string, never NULL. */
const char *parley_strerror(int err);

#endif
