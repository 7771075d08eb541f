/*
 * errors.c - descriptions of the mq_err codes declared in errors.h.
 */
#include "errors.h"

const char *mq_strerror(int code)
{
    switch (code) {
    case MQ_OK:
        return "success";
    case MQ_ENOMEM:
        return "out of memory";
    case MQ_EAGAIN:
        return "incomplete input";
    case MQ_EMALFORMED:
        return "malformed packet";
    case MQ_ETOOLARGE:
        return "too large";
    case MQ_EPROTOCOL:
        return "protocol error";
    case MQ_EUTF8:
        return "invalid UTF-8";
    case MQ_EINVAL:
        return "invalid argument";
    case MQ_EIO:
        return "I/O error";
    case MQ_ENOTFOUND:
        return "not found";
    case MQ_EDENIED:
        return "not authorised";
    case MQ_EFULL:
        return "queue full";
    case MQ_EEXIST:
        return "already exists";
    }
    return "unknown error";
}
