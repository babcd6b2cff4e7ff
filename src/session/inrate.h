/*
 * inrate.h - inferring an undeclared input rate (session/inrate.c).
 *
 * A session whose client has not declared input_sample_rate assumes 48 kHz
 * and infers the true rate from the frames' client timestamps
 * (audio/rate_infer.h) over its first one to two seconds of audio. Until
 * the inference is decided or given up, the listener holds the audio
 * undecoded in the input ring (never decoded at a rate that may be wrong);
 * then it decodes all of it at the rate found. A switch is reported to the
 * client (events->input_rate_inferred), logged, and counted in
 * parley_input_rate_inferred_total{rate}; a rejected inference keeps 48 kHz
 * and logs why. A declared rate always wins: declaring ends the inference.
 * The calls between inbox.c, listen.c and inrate.c are in listener.h.
 */
#ifndef PARLEY_SESSION_INRATE_H
#define PARLEY_SESSION_INRATE_H

/* Registers the metrics, once at startup. 0 or PARLEY_E_NOMEM. */
int parley_inrate_register(void);

#endif
