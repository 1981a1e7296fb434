#pragma once
// SIGINT and SIGTERM ask a run to stop at the next step boundary: the handler only sets a flag, and the
// training loop saves what it has logged with status "interrupted".
namespace sbx {

void install_stop_handlers();
bool stop_requested();
void request_stop();  // what the handler does; also for tests

}  // namespace sbx
