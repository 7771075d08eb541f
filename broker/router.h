/*
 * router.h - where an accepted message goes.
 *
 * router_publish() is the one door for every message a worker accepts (a
 * client's PUBLISH, a will): the retained store first when RETAIN is set,
 * then local delivery on this worker, then one reference per other worker
 * queued for hand-off at turn end (worker_post_later). Each worker matches
 * the message against its own topic tree (router_deliver_local) and
 * delivers to each matching session once, at the highest QoS of its
 * matching subscriptions, downgraded to the published QoS.
 */
#ifndef MQCHAT_ROUTER_H
#define MQCHAT_ROUTER_H

#include <stdint.h>

#include "message.h"

struct worker;

/* Routes msg from worker w. Takes over the caller's reference. */
void router_publish(struct worker *w, struct message *msg);

/* Delivers msg to w's matching sessions. The caller keeps its reference. */
void router_deliver_local(struct worker *w, struct message *msg);

/* Delivers msg to one session of w picked for a shared subscription (if it
 * still exists with that uid). The caller keeps its reference. */
void router_deliver_shared(struct worker *w, struct message *msg, const char *client_id,
                           uint64_t session_uid, uint8_t options, uint32_t sub_id);

#endif
