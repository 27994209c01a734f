/* Reasoning probe for synth:hops: accuracy of the greedy prediction on the answer tokens, by hop
 * count. In a hops row the hop count is the only digit, and the token after it is the answer
 * (`s h a ;`), so an input digit h marks an answer target of an h-hop query. */
#ifndef RB_PROBE_H
#define RB_PROBE_H
#include "model.h"

#define RB_PROBE_MAX_HOPS 9

/* Adds, from the last forward (logits not yet overwritten by a backward), the answer tokens of
 * every hop count 1..9 to total[h] and the correctly predicted ones (argmax) to correct[h]. */
void probe_hops_count(const Model *m, double *correct, double *total);

#endif
