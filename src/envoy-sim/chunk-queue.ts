/**
 * The STREAMED / BUFFERED_PARTIAL FIFO of chunks sent to the processor and awaiting their replies
 * (docs/envoy-ext-proc.md §1.8.2; Envoy's ChunkQueue in `processor_state.cc`).
 */
export interface QueuedChunk {
  data: Buffer;
  endStream: boolean;
}

export class ChunkQueue {
  private chunks: QueuedChunk[] = [];

  get length(): number {
    return this.chunks.length;
  }

  front(): QueuedChunk | undefined {
    return this.chunks[0];
  }

  push(data: Buffer, endStream: boolean): void {
    this.chunks.push({ data, endStream });
  }

  shift(): QueuedChunk | undefined {
    return this.chunks.shift();
  }

  bytes(): number {
    return this.chunks.reduce((n, c) => n + c.data.length, 0);
  }

  /** Merges every queued chunk into one, keeping the last chunk's end_stream. */
  consolidate(): QueuedChunk {
    const last = this.chunks[this.chunks.length - 1];
    const merged = { data: Buffer.concat(this.chunks.map((c) => c.data)), endStream: last?.endStream ?? false };
    this.chunks = [merged];
    return merged;
  }

  clear(): void {
    this.chunks = [];
  }
}
