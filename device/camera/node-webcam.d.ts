// node-webcam ships no types; this declares the part of its API the webcam backend uses.
declare module 'node-webcam' {
  namespace NodeWebcam {
    interface WebcamOptions {
      width?: number;
      height?: number;
      quality?: number;
      delay?: number;
      saveShots?: boolean;
      output?: 'jpeg' | 'png' | 'bmp';
      /** Pasted unquoted into a shell command line after "-d". */
      device?: string | false;
      callbackReturn?: 'location' | 'buffer' | 'base64';
      verbose?: boolean;
      skip?: number | false;
    }
    interface Shot {
      location: string | null;
      /** For fswebcam: what the command wrote to stderr. */
      data: unknown;
    }
    interface Webcam {
      /** The program name at the head of the generated shell command. */
      bin: string;
      opts: WebcamOptions;
      capture(location: string, callback: (error: Error | null, result?: unknown) => void): void;
      on(type: 'capture', listener: (event: { shot: Shot }) => void): void;
    }
  }
  const NodeWebcam: {
    create(options: NodeWebcam.WebcamOptions): NodeWebcam.Webcam;
  };
  export = NodeWebcam;
}
