/*
 * bench_scenarios.h - the topologies mqchat-bench can measure.
 *
 * A scenario decides how many connections there are, which subscribe to
 * what and which publish where, runs the set-up, the traffic (or, for
 * conns, the memory measurement) and prints the report. Topics live under
 * "mqbench/PID/" so that two runs against one broker never see each
 * other's messages; chat-rooms, whose topics the chat protocol fixes,
 * tells another run's messages apart by the magic in their payload.
 *
 *   fanout  --pubs P (1) publish to one topic, --subs S (1000) subscribe to it
 *   fanin   --pubs P (100) publish to a topic each, --subs S (1) subscribe
 *           to all of them through a '+' filter
 *   p2p     --pubs P (100) pairs: publisher i -> subscriber i, a topic each
 *   rooms   --rooms K (100) x --members M (50): every member subscribes to
 *           its room and publishes to it at --rate (1) msg/s, so each
 *           message has M deliveries (the sender's own included)
 *   chat-rooms  rooms through the chat layer (doc/protocol.md): needs
 *           --token-secret (the broker's chat.token_secret) and a broker
 *           with chat.auto_create_rooms on. Client i logs in as chat user
 *           "u<i>" with a token; room k is chat/room/room<k>, created
 *           (public, owned by its first subscriber) when subscribed to;
 *           payloads are plain text, delivered inside the broker's
 *           envelope, where the latency header is found in "text"
 *           (bench_traffic.h). Every message is also archived by the broker.
 *   conns   --conns N (1000) idle connections with a subscription each;
 *           with --pid, the broker's RSS growth per connection
 *
 * With --port2 the connections are spread over two brokers (two nodes of
 * a cluster): --split alternate sends the odd connection ids to the second
 * (in rooms, half of every room's members, each publishing and subscribing
 * on its one connection); --split pubsub sends the publishing connections
 * to the first and the subscribing ones to the second, and gives every
 * rooms member two connections, so that every delivery crosses between
 * the brokers. --split pubsub without --port2 is the same layout on one
 * broker, the reference for it.
 */
#ifndef MQCHAT_BENCH_SCENARIOS_H
#define MQCHAT_BENCH_SCENARIOS_H

#include "bench_opts.h"

/* Deliveries in flight over all publishers of a --rate 0 run without
 * --window: each publisher's window is this divided by (publishers x
 * fan-out), clamped to 4..1024 messages. Large enough that a broker
 * delivering a million messages a second is never left idle, small enough
 * that queues stay bounded (32768 x 100 B is about 4 MiB). */
#define BENCH_INFLIGHT_BUDGET 32768u

/* Fills the scenario-dependent defaults (subs, pubs, rooms, members,
 * conns, rate) that the command line left at 0. */
void bench_scenario_defaults(struct bench_opts *o);

/*
 * Runs the scenario o->scenario (a traffic or conns scenario) and prints its
 * report on stdout. Returns 0 when the run completed with every connection
 * set up, 1 when it ran but something failed (the report says what), 2 when
 * it could not run at all.
 */
int bench_scenario_run(const struct bench_opts *o);

#endif
