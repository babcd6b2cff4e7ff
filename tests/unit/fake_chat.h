/*
 * fake_chat.h - a tiny OpenAI-compatible chat server in the test process
 * (loopback, one thread per connection) for unit tests that drive real
 * sessions through the real LLM engine. What it answers is chosen by the
 * last user message:
 *   "kind:fail"    HTTP 500                          -> the answer fails
 *   "kind:slow"    twenty words, 50 ms apart        -> time to cancel it
 *   "kind:prompt"  the request's system prompt
 *   "kind:history" the assistant messages of the request, joined by "|"
 *   anything else  "one two three four five" (and the warm-up)
 */
#ifndef PARLEY_TEST_FAKE_CHAT_H
#define PARLEY_TEST_FAKE_CHAT_H

/* Starts the server; returns its port, or -1. */
int fake_chat_start(void);
/* Stops it, waiting for every connection to end. */
void fake_chat_stop(void);

#endif
