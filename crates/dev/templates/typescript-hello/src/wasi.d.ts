// The parts of wasi:http/types this component uses, as componentize-js binds them.
// (`npx jco guest-types wit -o types` generates declarations for the whole world.)

// StarlingMonkey, the JavaScript engine componentize-js embeds, provides the web's encoders.
declare class TextEncoder {
  encode(input: string): Uint8Array;
}

declare module "wasi:http/types@0.2.6" {
  export class Fields {
    static fromList(entries: Array<[string, Uint8Array]>): Fields;
  }
  export class IncomingRequest {
    pathWithQuery(): string | undefined;
  }
  export class OutputStream {
    blockingWriteAndFlush(contents: Uint8Array): void;
    [Symbol.dispose](): void;
  }
  export class OutgoingBody {
    write(): OutputStream;
    static finish(body: OutgoingBody, trailers: Fields | undefined): void;
  }
  export class OutgoingResponse {
    constructor(headers: Fields);
    body(): OutgoingBody;
  }
  export class ResponseOutparam {
    static set(param: ResponseOutparam, response: { tag: "ok"; val: OutgoingResponse }): void;
  }
}
