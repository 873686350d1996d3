/** RxJS operators for the links. */
import { Observable, OperatorFunction } from 'rxjs'

/**
 * Gathers the values emitted in one synchronous run (e.g. all the frames ws parses out of one TCP
 * read) into one array, emitted from a microtask right after. So a burst becomes one actor message.
 */
export function batchPerTurn<T> (): OperatorFunction<T, T[]> {
  return source => new Observable<T[]>(subscriber => {
    let batch: T[] | undefined
    const flush = (): void => {
      if (batch === undefined) return
      const values = batch
      batch = undefined
      subscriber.next(values)
    }
    return source.subscribe({
      next: value => {
        if (batch === undefined) {
          batch = [value]
          queueMicrotask(flush)
        } else {
          batch.push(value)
        }
      },
      error: (err: unknown) => subscriber.error(err),
      complete: () => {
        flush()
        subscriber.complete()
      }
    })
  })
}
