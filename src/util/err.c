#include "util/err.h"

const char *parley_strerror(int err)
{
	switch (err) {
	case PARLEY_OK: return "success";
	case PARLEY_E_NOMEM: return "out of memory";
	case PARLEY_E_INVAL: return "invalid argument";
	case PARLEY_E_FULL: return "queue or buffer full";
	case PARLEY_E_CLOSED: return "closed";
	case PARLEY_E_RANGE: return "value out of range";
	case PARLEY_E_IO: return "I/O error";
	case PARLEY_E_NOTFOUND: return "not found";
	case PARLEY_E_BUSY: return "busy";
	}
	return "unknown error";
}
