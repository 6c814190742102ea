/* An asynchronous client of one twin-vmm's control socket (JSON lines), on libevent. */
#ifndef CLUSTERD_VMM_CLIENT_H
#define CLUSTERD_VMM_CLIENT_H
#include <jansson.h>
#include <event2/event.h>

/*
 * A request's outcome, on the event-loop thread: ret is the reply's "return" object (borrowed,
 * valid during the call) or NULL with error set: twin-vmm's error description, or why the
 * connection failed (closed, timed out, garbage).  cls is twin-vmm's error class when it
 * refused ("NotOwner", "InvalidParameter", "GenericError", ...: tools/control.c), NULL when
 * it answered or never did.  Decide on cls; error is for people.
 */
typedef void (*vmm_client_done_fn)(void *arg, json_t *ret, const char *cls, const char *error);

struct vmm_client;

/*
 * Connects to the twin-vmm control socket at path (already bound: the caller retries while
 * it is not) and reads the greeting in the background.  Requests queue behind it.  closed:
 * called once when the connection is gone (NULL: not wanted).  NULL with errno on failure.
 */
struct vmm_client *vmm_client__connect(struct event_base *base, const char *path,
				       void (*closed)(void *opaque), void *opaque);

/*
 * Queues cmd with args (stolen; NULL for none); done (may be NULL) gets the reply, or the
 * failure when no reply comes within timeout_ms.  Requests run one at a time, in order.  A
 * timeout closes the connection: a late reply could no longer be matched.
 */
void vmm_client__call(struct vmm_client *c, const char *cmd, json_t *args, int timeout_ms,
		      vmm_client_done_fn done, void *arg);

/*
 * Closes the connection; queued requests are dropped without their callbacks.  NULL: no-op.
 * Never from inside one of this client's callbacks.
 */
void vmm_client__free(struct vmm_client *c);

#endif
