/*
 * token.h - what the client tools read out of a chat token (a JWT, see
 * doc/protocol.md "Tokens") without checking it: the broker does that.
 * Shared by mqchat, mqchat-notify and mqchat-display, which name the user
 * from the token when no user id is given.
 */
#ifndef MQCHAT_CLIENT_TOKEN_H
#define MQCHAT_CLIENT_TOKEN_H

/* The token's non-empty string claim "sub", malloc'd (the caller frees
 * it), or NULL when token is not three dot-separated parts with a
 * base64url JSON payload holding one, or out of memory. */
char *token_subject(const char *token);

#endif
