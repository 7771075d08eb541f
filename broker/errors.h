/*
 * errors.h - the one error vocabulary of mqchatd.
 *
 * Every fallible function in broker/ returns int: 0 (MQ_OK) on success or one
 * of the negative codes below. mq_strerror() turns a code into a short English
 * phrase for logs. This is not errno: system errors are logged where they
 * happen and mapped to MQ_EIO.
 */
#ifndef MQCHAT_ERRORS_H
#define MQCHAT_ERRORS_H

enum mq_err {
    MQ_OK = 0,
    MQ_ENOMEM = -1,     /* an allocation failed; state is unchanged */
    MQ_EAGAIN = -2,     /* not enough bytes yet: call again with more */
    MQ_EMALFORMED = -3, /* bytes that break the MQTT wire format */
    MQ_ETOOLARGE = -4,  /* a packet or field over its configured limit */
    MQ_EPROTOCOL = -5,  /* well formed, but a protocol rule is broken */
    MQ_EUTF8 = -6,      /* a string that is not well-formed MQTT UTF-8 */
    MQ_EINVAL = -7,     /* a bad argument or a bad configuration value */
    MQ_EIO = -8,        /* an operating-system call failed (logged there) */
    MQ_ENOTFOUND = -9,  /* the thing looked up does not exist */
    MQ_EDENIED = -10,   /* authentication or authorisation refused */
    MQ_EFULL = -11,     /* a bounded queue or table is full */
    MQ_EEXIST = -12,    /* the thing to create exists already */
};

/* A static, never-NULL description of an mq_err code (unknown codes too). */
const char *mq_strerror(int code);

#endif
