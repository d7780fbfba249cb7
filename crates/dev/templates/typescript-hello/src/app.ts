// An HTTP component in TypeScript: answers every request with a greeting.
//
// It exports `wasi:http/incoming-handler`, so any WASI 0.2 HTTP host runs it: Trellis,
// wasmCloud, `wasmtime serve`, Spin.
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from "wasi:http/types@0.2.6";
import type { IncomingRequest } from "wasi:http/types@0.2.6";

const encoder = new TextEncoder();

export const incomingHandler = {
  handle(_request: IncomingRequest, responseOut: ResponseOutparam): void {
    const response = new OutgoingResponse(Fields.fromList([["content-type", encoder.encode("text/plain")]]));
    const body = response.body();
    ResponseOutparam.set(responseOut, { tag: "ok", val: response });
    const stream = body.write();
    stream.blockingWriteAndFlush(encoder.encode("Hello from TypeScript!\n"));
    stream[Symbol.dispose]();
    OutgoingBody.finish(body, undefined);
  },
};
