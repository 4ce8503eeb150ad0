// A bigram "model" for generate() tests: the logits of each row are the line of `table` for its last token.
import * as tf from '@tensorflow/tfjs-core';

export const bigram =
  (table: tf.Tensor2D) =>
  (tokens: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => {
      const [b, t] = tokens.shape;
      return tf.gather(table, tf.reshape(tf.slice(tokens, [0, t - 1], [b, 1]), [b])) as tf.Tensor2D;
    });
