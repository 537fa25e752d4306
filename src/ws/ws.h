#pragma once
// The ws layer's public surface, for the gateway: frame vocabulary, close codes, UTF-8,
// the message reader and the frame writer.
#include "ws/close_code.h"
#include "ws/frame.h"
#include "ws/frame_writer.h"
#include "ws/message_reader.h"
#include "ws/utf8.h"
