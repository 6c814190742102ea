/* Fuzz target for twin-clusterd's CPG messages (cl_msg.h): strict refusals, stable round trips. */
/*
 * make check runs it through fuzz-target-driver.c; the --enable-libfuzzer build has
 * fuzz-cl-msg (tests/fuzz/README.md).  An accepted message is also handed to a fresh,
 * quorate model as if node 2 had sent it: whatever it says, the model must take it
 * without refusing a transition of its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "model.h"
#include "fuzz_target.h"

#define MAX_INPUT (16u << 10)

enum { CLS_OK, CLS_BAD };

static const char *const classes[] = {"ok-", "bad-"};

/* A model on node 1 in a quorate three-host partition with its sync round done. */
static const char *into_model(const struct cl_msg *msg, const char *data, size_t len)
{
	struct model *m = model__new(1, "h1", "10.0.0.1", 7400);
	struct cl_actions out;
	struct cl_input in = {.type = CL_IN_QUORUM};
	const char *broken = NULL;

	if (!m)
		return NULL;
	cl_actions__init(&out);
	in.quorum.quorate = true;
	in.quorum.votes = in.quorum.expected_votes = 3;
	in.quorum.ring_seq = 4; /* votequorum's verdict on the confchg's ring */
	model__input(m, &in, &out);
	in = (struct cl_input){.type = CL_IN_CONFCHG};
	in.confchg.ring_seq = 4;
	in.confchg.nmembers = 3;
	for (int i = 0; i < 3; i++)
		in.confchg.members[i] = (uint32_t)i + 1;
	model__input(m, &in, &out);
	in = (struct cl_input){.type = CL_IN_MESSAGE};
	in.msg.from = msg->node;
	in.msg.data = (const uint8_t *)data;
	in.msg.len = len;
	if (model__input(m, &in, &out) == -ENOMEM)
		broken = "the model ran out of memory on one message";
	else if (model__state(m)->refused)
		broken = "a message made the model refuse a transition of its own";
	cl_actions__dispose(&out);
	model__free(m);
	return broken;
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	struct cl_msg msg, again;
	char err[256], *a = NULL, *b = NULL;
	size_t alen, blen;
	const char *broken = NULL;
	int rc;

	err[0] = '\0';
	rc = cl_msg__decode(data, size, &msg, err, sizeof(err));
	if (rc) {
		cl_msg__dispose(&msg);
		*cls = CLS_BAD;
		if (rc != -EBADMSG)
			return "an error other than -EBADMSG";
		if (!err[0] || strchr(err, '\n'))
			return "an error without a one-line message";
		return NULL;
	}
	*cls = CLS_OK;
	/* What was accepted encodes, decodes again, and encodes to the same text. */
	if (cl_msg__encode(&msg, &a, &alen))
		broken = "an accepted message does not encode";
	else if (cl_msg__decode(a, alen, &again, err, sizeof(err))) {
		broken = "an accepted message's encoding is refused";
		cl_msg__dispose(&again);
	} else {
		if (cl_msg__encode(&again, &b, &blen) || alen != blen || memcmp(a, b, alen))
			broken = "an accepted message does not encode stably";
		cl_msg__dispose(&again);
	}
	if (!broken)
		broken = into_model(&msg, (const char *)data, size);
	free(a);
	free(b);
	cl_msg__dispose(&msg);
	return broken;
}

const struct fuzz_target fuzz_target = {
    .name = "cl_msg",
    .classes = classes,
    .nclasses = 2,
    .check = check,
    .max_input = MAX_INPUT,
};
